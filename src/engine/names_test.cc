#include "engine/names.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace berth::engine {
namespace {

TEST(Names, ValidatesDockersRule) {
  EXPECT_NO_THROW(validate_container_name("web_1.a-b"));
  EXPECT_THROW(validate_container_name("-web"), Error);
  EXPECT_THROW(validate_container_name("a"), Error);  // docker requires two characters
  EXPECT_THROW(validate_container_name("we b"), Error);
  EXPECT_THROW(validate_container_name("web/x"), Error);
}

TEST(Names, RandomNamesAreValidAndIdsAre64Hex) {
  for (int i = 0; i < 20; ++i) {
    EXPECT_NO_THROW(validate_container_name(random_container_name(i % 2)));
    std::string id = random_id();
    ASSERT_EQ(id.size(), 64u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
  }
  EXPECT_NE(random_id(), random_id());
}

}  // namespace
}  // namespace berth::engine
