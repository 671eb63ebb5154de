// RegistryError: an error the registry API answers with, in the distribution
// spec's shape: HTTP status + {"errors":[{"code","message","detail"}]}.
//
// Contract: code is one of the spec's codes (BLOB_UNKNOWN, BLOB_UPLOAD_INVALID,
// BLOB_UPLOAD_UNKNOWN, DIGEST_INVALID, MANIFEST_BLOB_UNKNOWN, MANIFEST_INVALID,
// MANIFEST_UNKNOWN, NAME_INVALID, NAME_UNKNOWN, SIZE_INVALID, UNAUTHORIZED,
// DENIED, UNSUPPORTED, TOOMANYREQUESTS) or docker's RANGE_INVALID /
// TAG_INVALID; what() is the message.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace berth::hub {

class RegistryError : public Error {
 public:
  RegistryError(int status, std::string code, const std::string& message, nlohmann::json detail = nullptr)
      : Error(message), status_(status), code_(std::move(code)), detail_(std::move(detail)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }
  nlohmann::json body() const {
    nlohmann::json e{{"code", code_}, {"message", what()}};
    e["detail"] = detail_;
    return nlohmann::json{{"errors", nlohmann::json::array({e})}};
  }

 private:
  int status_;
  std::string code_;
  nlohmann::json detail_;
};

}  // namespace berth::hub
