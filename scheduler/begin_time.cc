// Resolution of --begin times.
#include "scheduler/begin_time.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>

namespace gm::sched {

namespace {

// Days from 1970-01-01 to y-m-d (proleptic Gregorian), after H. Hinnant.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

Status Bad(const std::string& text) {
  return Status::InvalidArgument("invalid --begin time '" + text + "'");
}

}  // namespace

Result<int64_t> ResolveBeginTime(const std::string& text, int64_t now_ms, int64_t tz) {
  if (text.empty() || text == "now") return now_ms;
  int64_t local_now_s = now_ms / 1000 + tz;
  int64_t today_s = local_now_s - ((local_now_s % 86400) + 86400) % 86400;  // local midnight
  auto at_local = [&](int64_t local_s) { return (local_s - tz) * 1000; };
  auto next_clock = [&](int64_t secs_of_day) {  // today if still ahead, else tomorrow
    int64_t t = today_s + secs_of_day;
    return at_local(t <= local_now_s ? t + 86400 : t);
  };
  if (text.rfind("now+", 0) == 0) {
    char* end = nullptr;
    long long n = std::strtoll(text.c_str() + 4, &end, 10);
    if (end == text.c_str() + 4 || n < 0) return Bad(text);
    std::string unit = end;
    int64_t mult = 1;
    if (unit.empty() || unit == "s" || unit == "seconds" || unit == "second") mult = 1;
    else if (unit == "minutes" || unit == "minute" || unit == "min") mult = 60;
    else if (unit == "hours" || unit == "hour") mult = 3600;
    else if (unit == "days" || unit == "day") mult = 86400;
    else if (unit == "weeks" || unit == "week") mult = 7 * 86400;
    else return Bad(text);
    return now_ms + n * mult * 1000;
  }
  if (text == "midnight") return next_clock(0);
  if (text == "noon") return next_clock(12 * 3600);
  if (text == "teatime") return next_clock(16 * 3600);
  if (text == "today") return at_local(today_s);
  if (text == "tomorrow") return at_local(today_s + 86400);
  int y, mo, d, h = 0, mi = 0, s = 0, used = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &used) == 3) {
    std::string rest = text.substr(used);
    if (!rest.empty() && !(rest[0] == 'T' && std::sscanf(rest.c_str(), "T%2d:%2d%n", &h, &mi, &used) == 2))
      return Bad(text);
    if (!rest.empty()) {
      std::string secs = rest.substr(used);
      if (!secs.empty() && std::sscanf(secs.c_str(), ":%2d", &s) != 1) return Bad(text);
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return Bad(text);
    return at_local(DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s);
  }
  int n = std::sscanf(text.c_str(), "%2d:%2d:%2d", &h, &mi, &s);
  if (n >= 2 && isdigit(static_cast<unsigned char>(text[0]))) {
    if (h > 23 || mi > 59 || s > 59) return Bad(text);
    return next_clock(h * 3600 + mi * 60 + s);
  }
  return Bad(text);
}

}  // namespace gm::sched
