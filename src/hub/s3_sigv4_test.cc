// Signature Version 4 against the worked examples in AWS's S3 API reference
// ("Signature Calculations for the Authorization Header" and "Query String
// Authentication"): s3rver, the S3 server the integration tests run, accepts
// any well-formed signature, so these are what proves the signing right.
#include <gtest/gtest.h>

#include "base/error.h"
#include "hub/s3_blob_store.h"

namespace berth::hub {
namespace {

const sigv4::Key kKey{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1"};
const std::string kDate = "20130524T000000Z";
const std::string kEmptySha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string signature_of(const std::string& authorization) {
  return authorization.substr(authorization.find("Signature=") + 10);
}

TEST(SigV4, GetObjectWithRange) {
  sigv4::Request r{.method = "GET", .path = "/test.txt"};
  r.headers = {{"host", "examplebucket.s3.amazonaws.com"},
               {"range", "bytes=0-9"},
               {"x-amz-content-sha256", kEmptySha},
               {"x-amz-date", kDate}};
  r.payload_sha256 = kEmptySha;
  std::string auth = sigv4::authorization(r, kKey, kDate);
  EXPECT_EQ(auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, PutObjectWithEscapedKeyAndPayloadHash) {
  sigv4::Request r{.method = "PUT", .path = sigv4::encode_path("/test$file.text")};
  EXPECT_EQ(r.path, "/test%24file.text");
  std::string payload = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
  r.headers = {{"date", "Fri, 24 May 2013 00:00:00 GMT"},
               {"host", "examplebucket.s3.amazonaws.com"},
               {"x-amz-content-sha256", payload},
               {"x-amz-date", kDate},
               {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
  r.payload_sha256 = payload;
  EXPECT_EQ(signature_of(sigv4::authorization(r, kKey, kDate)),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4, SubresourceWithEmptyValue) {
  sigv4::Request r{.method = "GET", .path = "/", .query = {{"lifecycle", ""}}};
  r.headers = {{"host", "examplebucket.s3.amazonaws.com"}, {"x-amz-content-sha256", kEmptySha}, {"x-amz-date", kDate}};
  r.payload_sha256 = kEmptySha;
  EXPECT_EQ(signature_of(sigv4::authorization(r, kKey, kDate)),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4, QueryParametersAreSorted) {
  sigv4::Request r{.method = "GET", .path = "/", .query = {{"prefix", "J"}, {"max-keys", "2"}}};
  r.headers = {{"host", "examplebucket.s3.amazonaws.com"}, {"x-amz-content-sha256", kEmptySha}, {"x-amz-date", kDate}};
  r.payload_sha256 = kEmptySha;
  EXPECT_EQ(signature_of(sigv4::authorization(r, kKey, kDate)),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4, PresignedGet) {
  std::string q = sigv4::presign_query("/test.txt", "examplebucket.s3.amazonaws.com", kKey, kDate, 86400);
  EXPECT_EQ(q,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
            "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(S3Location, ParsesStorageUrl) {
  S3Location l = S3Location::parse("s3://AK:S%2FK@bucket/a/b/?endpoint=http://127.0.0.1:9000/&region=eu-west-1");
  EXPECT_EQ(l.access_key, "AK");
  EXPECT_EQ(l.secret_key, "S/K");
  EXPECT_EQ(l.bucket, "bucket");
  EXPECT_EQ(l.prefix, "a/b/");
  EXPECT_EQ(l.endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(l.region, "eu-west-1");
  EXPECT_FALSE(l.redirect);
  S3Location aws = S3Location::parse("s3://AK:SK@bucket?redirect=true");
  EXPECT_EQ(aws.endpoint, "https://s3.us-east-1.amazonaws.com");
  EXPECT_EQ(aws.prefix, "");
  EXPECT_TRUE(aws.redirect);
}

TEST(S3Location, RejectsMalformedUrls) {
  EXPECT_THROW(S3Location::parse("s3://AK:SK@/prefix"), Error);
  EXPECT_THROW(S3Location::parse("s3://AK@bucket"), Error);
  EXPECT_THROW(S3Location::parse("s3://AK:SK@bucket?endpoint=ftp://x"), Error);
  EXPECT_THROW(S3Location::parse("s3://AK:SK@bucket?endpoint=http://x/path"), Error);
}

}  // namespace
}  // namespace berth::hub
