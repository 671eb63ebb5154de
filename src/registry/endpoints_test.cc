#include "registry/endpoints.h"

#include <gtest/gtest.h>

namespace berth::registry {
namespace {

TEST(Endpoints, DockerHubUsesMirrorsFirstForPullsOnly) {
  RegistryConfig c{{"https://mirror.example:5000/", "127.0.0.1:6000"}, {}};
  auto pull = endpoints_for("docker.io", c, false);
  ASSERT_EQ(pull.size(), 3u);
  EXPECT_EQ(pull[0].base_url, "https://mirror.example:5000");
  EXPECT_TRUE(pull[0].mirror);
  EXPECT_EQ(pull[1].base_url, "https://127.0.0.1:6000");  // a scheme-less mirror is https
  EXPECT_TRUE(pull[1].insecure_tls);                       // but loopback: not verified
  EXPECT_EQ(pull[2].base_url, "https://registry-1.docker.io");
  EXPECT_FALSE(pull[2].insecure_tls);
  auto push = endpoints_for("docker.io", c, true);
  ASSERT_EQ(push.size(), 1u);
  EXPECT_EQ(push[0].base_url, "https://registry-1.docker.io");
}

TEST(Endpoints, LoopbackIsInsecureAndFallsBackToHttp) {
  auto eps = endpoints_for("127.0.0.1:5000", {}, false);
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_EQ(eps[0].base_url, "https://127.0.0.1:5000");
  EXPECT_TRUE(eps[0].insecure_tls);
  EXPECT_EQ(eps[1].base_url, "http://127.0.0.1:5000");
  EXPECT_TRUE(is_insecure_registry("localhost:5000", {}));  // resolves to 127.0.0.1
}

TEST(Endpoints, InsecureByNameOrCidrOtherwiseVerifiedHttpsOnly) {
  RegistryConfig c{{}, {"registry.corp:5000", "10.1.0.0/16"}};
  EXPECT_TRUE(is_insecure_registry("registry.corp:5000", c));
  EXPECT_TRUE(is_insecure_registry("10.1.2.3:443", c));
  EXPECT_FALSE(is_insecure_registry("10.2.0.1:443", c));
  auto eps = endpoints_for("10.2.0.1:5000", c, true);
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps[0].base_url, "https://10.2.0.1:5000");
  EXPECT_FALSE(eps[0].insecure_tls);
}

TEST(Endpoints, RegistryHostOfDockerHub) {
  EXPECT_EQ(registry_host("docker.io"), "registry-1.docker.io");
  EXPECT_EQ(registry_host("index.docker.io"), "registry-1.docker.io");
  EXPECT_EQ(registry_host("quay.io"), "quay.io");
}

}  // namespace
}  // namespace berth::registry
