#include <gtest/gtest.h>

#include "qlite/base/status.h"

TEST(Status, FormatsMessage) {
  qlite::Status s = qlite::StatusError(qlite::StatusCode::kFormat, "tensor %s has %d dims", "w", 3);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), qlite::StatusCode::kFormat);
  EXPECT_EQ(s.message(), "tensor w has 3 dims");
  EXPECT_TRUE(qlite::Status::Ok().ok());
}
