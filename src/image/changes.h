// Dockerfile instructions applied to an image's run config, as
// `docker import --change` and `docker commit --change` do (dockerd's
// dockerfile.BuildFromConfig).
//
// Accepted: CMD, ENTRYPOINT (JSON or shell form: shell form becomes
// ["/bin/sh","-c",<text>]), ENV and LABEL (key=value pairs with quotes and
// escapes, or the legacy "KEY value"), EXPOSE (port[/proto], ranges),
// USER, VOLUME (JSON or words), WORKDIR (relative joins the current one),
// STOPSIGNAL, ONBUILD, HEALTHCHECK (NONE or [--interval= --timeout=
// --start-period= --start-interval= --retries=] CMD ...). As in a
// Dockerfile, $VAR and ${VAR} expand from the Env set so far in ENV,
// LABEL, EXPOSE, USER, VOLUME, WORKDIR and STOPSIGNAL. Instruction names
// are case-insensitive. Anything else throws "<NAME> is not a valid change
// command"; malformed arguments throw naming the instruction.
//
// The config is the image config's "config" object with docker's field
// names (Cmd, Entrypoint, Env, ExposedPorts, Labels, User, Volumes,
// WorkingDir, StopSignal, OnBuild, Healthcheck); fields not touched are
// left as they were (or absent).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::image {

void apply_change(nlohmann::ordered_json* config, std::string_view instruction);
void apply_changes(nlohmann::ordered_json* config, const std::vector<std::string>& instructions);

}  // namespace berth::image
