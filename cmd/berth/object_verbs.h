// What the network and volume verbs share, worded as docker 28 words it:
// argument-count errors, --filter values, the prune prompt, and inspect's
// output over the daemon's raw JSON.
//
// Contract: the *_args checks throw berth::Error whose text is docker 28's
// whole message ("berth: 'berth network create' requires 1 argument\n\n
// Usage: ...\n\nRun '...' for more information"; main prints it, status 1).
// filters() throws cli::UsageError (status 125) for a value without "=".
// confirm() prints the warning and "Are you sure you want to continue?
// [y/N] " and reads one line of stdin: only "y"/"Y" (spaces trimmed) agree.
// inspect_raw() prints what docker's inspect.Inspect prints and returns the
// exit status (64 for a template that does not parse).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "berth.h"

namespace berth::cmd {

void exact_args(const Context& ctx, const Args& pos, size_t n);
void no_positional_args(const Context& ctx, const Args& pos);
void max_args(const Context& ctx, const Args& pos, size_t n);

// docker's opts.FilterOpt values ("name=value", keys lower-cased, both
// sides trimmed, "" ignored) as the API's {"name":{"value":true}}.
json filters(const std::vector<std::string>& values, std::string_view flag_shown);

bool confirm(const std::string& warning);

// GET of one object by name: the response, whatever its status.
using RawGetter = std::function<cli::Response(const std::string& name)>;
int inspect_raw(const Args& names, const std::string& format, const RawGetter& get);

// A list flag of docker's "strings" type: each value split as CSV.
std::vector<std::string> csv_list(const cli::FlagSet& flags, std::string_view name);
// docker's --label values, checked as its ValidateLabel checks them.
void check_labels(const std::vector<std::string>& labels);

}  // namespace berth::cmd
