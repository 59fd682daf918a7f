// Names of Status codes, as sent on the wire.
#include "common/status.h"

namespace gm {

namespace {
struct CodeNameEntry {
  Status::Code code;
  const char* name;
};
constexpr CodeNameEntry kCodeNames[] = {
    {Status::Code::kOk, "OK"},
    {Status::Code::kInvalidArgument, "InvalidArgument"},
    {Status::Code::kNotFound, "NotFound"},
    {Status::Code::kAlreadyExists, "AlreadyExists"},
    {Status::Code::kPermissionDenied, "PermissionDenied"},
    {Status::Code::kUnauthenticated, "Unauthenticated"},
    {Status::Code::kFailedPrecondition, "FailedPrecondition"},
    {Status::Code::kResourceExhausted, "ResourceExhausted"},
    {Status::Code::kUnavailable, "Unavailable"},
    {Status::Code::kCorruption, "Corruption"},
    {Status::Code::kIOError, "IOError"},
    {Status::Code::kInternal, "Internal"},
};
}  // namespace

const char* Status::CodeName(Code c) {
  for (const auto& e : kCodeNames)
    if (e.code == c) return e.name;
  return "Unknown";
}

Status::Code Status::CodeFromName(const std::string& name) {
  for (const auto& e : kCodeNames)
    if (name == e.name) return e.code;
  return Code::kInternal;
}

}  // namespace gm
