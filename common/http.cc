// HTTP status mapping and the JSON API client.
#include "common/http.h"

#include <httplib.h>

namespace gm {

int HttpStatusFor(const Status& s) {
  using C = Status::Code;
  switch (s.code()) {
    case C::kOk: return 200;
    case C::kInvalidArgument: return 400;
    case C::kUnauthenticated: return 401;
    case C::kResourceExhausted: return 402;
    case C::kPermissionDenied: return 403;
    case C::kNotFound: return 404;
    case C::kAlreadyExists:
    case C::kFailedPrecondition: return 409;
    case C::kUnavailable: return 503;
    default: return 500;
  }
}

void ReplyJson(httplib::Response& res, const json& body, int http_status) {
  res.status = http_status;
  res.set_content(body.dump(), "application/json");
}

void ReplyError(httplib::Response& res, const Status& s) {
  ReplyJson(res, json{{"error", {{"code", Status::CodeName(s.code())}, {"message", s.message()}}}},
            HttpStatusFor(s));
}

Result<json> ParseJsonBody(const httplib::Request& req) {
  json j = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument("request body is not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument("request body must be a JSON object");
  return j;
}

std::string UrlEncode(const std::string& value) {
  return httplib::detail::encode_query_param(value);
}

std::string BearerToken(const httplib::Request& req) {
  auto h = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (h.compare(0, prefix.size(), prefix) != 0) return "";
  return h.substr(prefix.size());
}

namespace {

Status StatusFromResponse(const httplib::Response& r) {
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_object()) {
    auto code = Status::CodeFromName(j["error"].value("code", "Internal"));
    if (code == Status::Code::kOk) code = Status::Code::kInternal;
    return Status::FromCode(code, j["error"].value("message", ""));
  }
  return Status::Internal("controller answered HTTP " + std::to_string(r.status));
}

}  // namespace

ApiClient::ApiClient(ApiClientOptions opts) : opts_(std::move(opts)) {}
ApiClient::~ApiClient() = default;

Result<std::unique_ptr<ApiClient>> ApiClient::Create(const ApiClientOptions& opts) {
  if (opts.url.empty())
    return Status::InvalidArgument(
        "no controller address: pass --controller URL or set GM_CONTROLLER");
  if (opts.url.rfind("https://", 0) != 0)
    return Status::InvalidArgument("controller address must start with https:// (got '" +
                                   opts.url + "')");
  std::unique_ptr<ApiClient> c(new ApiClient(opts));
  c->cli_ = std::make_unique<httplib::Client>(opts.url);
  if (!c->cli_->is_valid()) return Status::InvalidArgument("bad controller address " + opts.url);
  if (opts.ca_file.empty())
    return Status::InvalidArgument(
        "no CA file to trust the controller: pass --ca FILE or set GM_CA");
  if (access(opts.ca_file.c_str(), R_OK) != 0)
    return Status::InvalidArgument("cannot read CA file " + opts.ca_file);
  c->cli_->set_ca_cert_path(opts.ca_file.c_str());
  c->cli_->enable_server_certificate_verification(true);
  c->cli_->set_connection_timeout(opts.connect_timeout_s, 0);
  c->cli_->set_read_timeout(opts.read_timeout_s, 0);
  c->cli_->set_keep_alive(true);
  c->cli_->set_tcp_nodelay(true);
  if (!opts.token.empty()) c->cli_->set_bearer_token_auth(opts.token.c_str());
  return c;
}

Result<json> ApiClient::Finish(const char* method, const std::string& path, void* result_ptr,
                               int read_timeout_s) {
  auto& result = *static_cast<httplib::Result*>(result_ptr);
  if (!result) {
    return Status::Unavailable(std::string("cannot reach controller at ") + opts_.url + " (" +
                               method + " " + path + "): " + httplib::to_string(result.error()));
  }
  const auto& r = result.value();
  if (r.status >= 200 && r.status < 300) {
    if (r.body.empty()) return json::object();
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded()) return Status::Internal("controller sent invalid JSON for " + path);
    return j;
  }
  return StatusFromResponse(r);
}

Result<json> ApiClient::Get(const std::string& path, int read_timeout_s) {
  if (read_timeout_s > 0) cli_->set_read_timeout(read_timeout_s, 0);
  auto r = cli_->Get(path.c_str());
  if (read_timeout_s > 0) cli_->set_read_timeout(opts_.read_timeout_s, 0);
  return Finish("GET", path, &r, read_timeout_s);
}

Result<json> ApiClient::Post(const std::string& path, const json& body, int read_timeout_s) {
  if (read_timeout_s > 0) cli_->set_read_timeout(read_timeout_s, 0);
  auto r = cli_->Post(path.c_str(), body.dump(), "application/json");
  if (read_timeout_s > 0) cli_->set_read_timeout(opts_.read_timeout_s, 0);
  return Finish("POST", path, &r, read_timeout_s);
}

Result<json> ApiClient::PostBytes(const std::string& path, const std::string& bytes,
                                  const std::string& content_type) {
  auto r = cli_->Post(path.c_str(), bytes, content_type.c_str());
  return Finish("POST", path, &r, 0);
}

Result<json> ApiClient::Delete(const std::string& path) {
  auto r = cli_->Delete(path.c_str());
  return Finish("DELETE", path, &r, 0);
}

Status ApiClient::Download(const std::string& path,
                           const std::function<bool(const char*, size_t)>& sink,
                           const std::function<void(uint64_t, uint64_t)>& progress) {
  int http_status = 0;
  std::string err_body;
  auto r = cli_->Get(
      path.c_str(), httplib::Headers{},
      [&](const httplib::Response& resp) {
        http_status = resp.status;
        return true;
      },
      [&](const char* data, size_t n) {
        if (http_status >= 300) {
          err_body.append(data, n);
          return true;
        }
        return sink(data, n);
      },
      [&](uint64_t done, uint64_t total) {
        if (progress && http_status < 300) progress(done, total);
        return true;
      });
  if (!r)
    return Status::Unavailable("cannot reach controller at " + opts_.url + ": " +
                               httplib::to_string(r.error()));
  if (http_status >= 300) {
    httplib::Response fake;
    fake.status = http_status;
    fake.body = err_body;
    return StatusFromResponse(fake);
  }
  return Status::OK();
}

}  // namespace gm
