// Image references ("busybox", "user/app:1", "localhost:5000/x@sha256:..")
// parsed and normalized exactly as docker/distribution's
// reference.ParseNormalizedNamed, TagNameOnly and FamiliarString do.
//
// Grammar (distribution/reference):
//   reference := name [":" tag] ["@" digest]
//   name      := [domain "/"] path-component ["/" path-component]*
//   domain    := host [":" port]   host: dns name (any case) or "[ipv6]"
//   path-component := [a-z0-9]+ (([._]|__|-+) [a-z0-9]+)*
//   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//   digest    := sha256:<64 hex> | sha384:<96 hex> | sha512:<128 hex>
// Normalization: a first component without "." or ":" that is not
// "localhost" (and is lowercase) is not a domain, so the domain becomes
// "docker.io"; "index.docker.io" becomes "docker.io"; a single-component
// path on docker.io gets "library/". The whole name is at most 255 bytes.
//
// Errors carry docker's texts: "invalid reference format",
// "invalid reference format: repository name must be lowercase",
// "invalid repository name (<hex>), cannot specify 64-byte hexadecimal strings".
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace berth::image {

struct Reference {
  std::string domain;                 // "docker.io", "localhost:5000"
  std::string path;                   // "library/busybox"
  std::optional<std::string> tag;     // "latest"
  std::optional<std::string> digest;  // "sha256:<hex>"

  // "docker.io/library/busybox"
  std::string name() const;
  // Fully normalized: "docker.io/library/busybox:latest", "host/x@sha256:..".
  std::string str() const;
  // docker's FamiliarName: "busybox", "user/app", "localhost:5000/x".
  std::string familiar_name() const;
  // docker's FamiliarString: "busybox:latest", "user/app:1", "x@sha256:..".
  std::string familiar() const;

  friend bool operator==(const Reference&, const Reference&) = default;
};

// ParseNormalizedNamed: throws berth::Error with docker's message.
Reference parse_reference(std::string_view s);
// TagNameOnly: adds tag "latest" when the reference has neither tag nor digest.
Reference with_default_tag(Reference r);
// Whether s is a valid tag ("latest", "1.0-rc_2").
bool is_valid_tag(std::string_view s);

}  // namespace berth::image
