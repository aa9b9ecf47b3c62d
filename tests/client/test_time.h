// Times for CLI test expectations, written as UTC calendar values.
#ifndef RELATED_TESTS_CLIENT_TEST_TIME_H_
#define RELATED_TESTS_CLIENT_TEST_TIME_H_

#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace related::cli {

inline absl::Time Utc(int year, int month, int day, int hour, int minute,
                      int second) {
  return absl::FromCivil(
      absl::CivilSecond(year, month, day, hour, minute, second),
      absl::UTCTimeZone());
}

}  // namespace related::cli

#endif  // RELATED_TESTS_CLIENT_TEST_TIME_H_
