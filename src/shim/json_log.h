// Docker's json-file log format, byte for byte.
//
// Contract: json_log_line() returns one line as dockerd's jsonfilelog driver
// writes it: {"log":"<chunk>","stream":"stdout|stderr","time":"<RFC3339Nano>"}
// followed by '\n'. Strings are escaped as docker's jsonlog does (Go's
// encoding/json rules): '"' '\\' \n \r \t get short escapes, other control
// bytes and the HTML-sensitive < > & become \u00XX, U+2028/U+2029 become
// \u2028/\u2029, and every byte that is not part of valid UTF-8 becomes
// \ufffd (one per bad byte, as Go's utf8.DecodeRune advances). Readers such
// as `docker logs` therefore see the same bytes Go would have produced.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace berth::shim {

// Appends s as a quoted JSON string with the escaping described above.
void append_json_string(std::string* out, std::string_view s);


std::string json_log_line(std::string_view log, std::string_view stream, const struct timespec& t);

}  // namespace berth::shim
