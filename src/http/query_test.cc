#include "http/query.h"

#include <gtest/gtest.h>

namespace berth::http {
namespace {

TEST(Query, DecodesLikeGoAndKeepsRepeatedKeys) {
  Query q = Query::parse("a=1&b=x+y%2Fz&a=2&flag&n=42");
  EXPECT_EQ(q.get("a"), "1");
  EXPECT_EQ(q.get_all("a"), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(q.get("b"), "x y/z");
  EXPECT_TRUE(q.has("flag"));
  EXPECT_FALSE(q.get_bool("flag"));  // present but empty is false, as dockerd's BoolValue
  EXPECT_EQ(q.get_int("n", 0), 42);
  EXPECT_EQ(q.get_int("missing", 7), 7);
  EXPECT_THROW(q.get_int("b", 0), HttpError);
  EXPECT_THROW(Query::parse("a=%zz"), HttpError);
}

}  // namespace
}  // namespace berth::http
