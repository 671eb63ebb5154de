// Engine errors that callers must tell apart: api/ maps each to the HTTP
// status dockerd uses (404, 409, 400, 403, 304). Anything else is a plain
// berth::Error (500). Messages are dockerd's texts where clients match them
// ("No such container: x").
#pragma once

#include "base/error.h"

namespace berth::engine {

class NotFoundError : public Error {
 public:
  using Error::Error;
};
class ConflictError : public Error {
 public:
  using Error::Error;
};
class InvalidArgumentError : public Error {
 public:
  using Error::Error;
};
// The operation is not allowed on this object (removing a predefined network): 403.
class ForbiddenError : public Error {
 public:
  using Error::Error;
};
// The request changed nothing (start of a running container): 304.
class NotModifiedError : public Error {
 public:
  using Error::Error;
};

}  // namespace berth::engine
