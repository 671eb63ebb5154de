// Standard base64 (RFC 4648, with padding) for Basic auth, X-Registry-Auth
// and docker's config.json "auth" entries.
//
// Written by hand (30 lines) rather than taken from OpenSSL: the berth CLI
// needs it too, and linking libcrypto into the CLI would cost every
// invocation its load time.
#pragma once

#include <string>
#include <string_view>

namespace berth {

std::string base64_encode(std::string_view data);
// Accepts padded or unpadded input in the standard or the URL-safe
// alphabet (docker clients send X-Registry-Auth URL-safe); throws Error
// "invalid base64" on anything else.
std::string base64_decode(std::string_view text);

}  // namespace berth
