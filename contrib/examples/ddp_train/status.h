// Status and Result<T> for the trainer: errors are values until main() prints
// them. The trainer is a stand-alone example (it links nothing of GridMint),
// so this mirrors common/status.h in miniature instead of including it.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace ddp {

class Status {
 public:
  enum class Code { kOk = 0, kInvalidArgument, kNotFound, kCorruption, kIOError, kUnavailable };

  Status() = default;
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
  // A resource (a GPU, a communicator) that this host cannot provide.
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Status(Code c, std::string m) : code_(c), message_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status that says why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}     // NOLINT: implicit by design
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const { return std::get<Status>(v_); }
  T& value() { return std::get<T>(v_); }
  const T& value() const { return std::get<T>(v_); }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace ddp
