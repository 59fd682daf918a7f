// HTTPS + JSON plumbing shared by gm, gmd and gmctld (cpp-httplib over
// OpenSSL). The server side maps Status codes to HTTP answers; the client side
// maps them back, so a 4xx from the controller becomes the same Status the
// handler returned, message included.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace httplib {
class Client;
struct Request;
struct Response;
}  // namespace httplib

namespace gm {

using json = nlohmann::json;

// The JSON error body: {"error": {"code": "InvalidArgument", "message": "..."}}.
int HttpStatusFor(const Status& s);
void ReplyJson(httplib::Response& res, const json& body, int http_status = 200);
void ReplyError(httplib::Response& res, const Status& s);
// Parses a request body as a JSON object; InvalidArgument names the problem.
Result<json> ParseJsonBody(const httplib::Request& req);
// Percent-encodes a query parameter value.
std::string UrlEncode(const std::string& value);
// The bearer token of a request, or "".
std::string BearerToken(const httplib::Request& req);

struct ApiClientOptions {
  std::string url;        // https://127.0.0.1:6817
  std::string ca_file;    // PEM file of the CA (the controller's self-signed certificate)
  std::string token;      // API token, sent as "Authorization: Bearer …"
  int connect_timeout_s = 5;
  int read_timeout_s = 30;
};

// A client of the controller's JSON API. Thread-compatible (one per thread).
class ApiClient {
 public:
  static Result<std::unique_ptr<ApiClient>> Create(const ApiClientOptions& opts);
  ~ApiClient();
  Result<json> Get(const std::string& path, int read_timeout_s = 0);
  Result<json> Post(const std::string& path, const json& body, int read_timeout_s = 0);
  Result<json> Delete(const std::string& path);
  // Raw GET for file downloads; calls `sink` with chunks, `progress` with (done, total).
  Status Download(const std::string& path, const std::function<bool(const char*, size_t)>& sink,
                  const std::function<void(uint64_t, uint64_t)>& progress);
  // Raw POST of bytes (uploads).
  Result<json> PostBytes(const std::string& path, const std::string& bytes,
                         const std::string& content_type);
  const ApiClientOptions& options() const { return opts_; }

 private:
  explicit ApiClient(ApiClientOptions opts);
  Result<json> Finish(const char* method, const std::string& path, void* result,
                      int read_timeout_s);
  ApiClientOptions opts_;
  std::unique_ptr<httplib::Client> cli_;
};

}  // namespace gm
