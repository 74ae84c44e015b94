// `headroom memory` end to end: exit codes (0 fits, 1 rejected or does not fit, 2 usage) and the
// lines a reader looks for.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <sys/wait.h>

namespace {

struct CliRun {
  int code = -1;
  std::string out;  // stdout and stderr together
};

CliRun run_cli(const std::string& args) {
  const std::string bin = HEADROOM_BINARY_DIR "/headroom";
  CliRun r;
  if (!std::filesystem::exists(bin)) return r;
  const std::string cmd = "HEADROOM_DATA=" HEADROOM_SOURCE_DIR " " + bin + " memory " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

#define REQUIRE_BINARY(r) \
  if ((r).code == -1) GTEST_SKIP() << "headroom binary not built next to the tests"

}  // namespace

TEST(MemoryCli, HelpAndUsage) {
  CliRun h = run_cli("--help");
  REQUIRE_BINARY(h);
  EXPECT_EQ(h.code, 0);
  EXPECT_NE(h.out.find("usage: headroom memory"), std::string::npos);
  EXPECT_NE(h.out.find("--kv-dtype"), std::string::npos);
  EXPECT_EQ(run_cli("--model llama3-8b").code, 2);  // --hw missing
  EXPECT_EQ(run_cli("--model llama3-8b --hw h200-sxm --context 10 --contexts 1,2").code, 2);
  CliRun w = run_cli("--model llama3-8b --hw h200-sxm --weights fp4");
  EXPECT_EQ(w.code, 2);
  EXPECT_NE(w.out.find("ambiguous"), std::string::npos);
  EXPECT_EQ(run_cli("--model llama3-8b --hw h200-sxm --nccl 12").code, 2);  // a bare number is not bytes
}

TEST(MemoryCli, TableForAPlanThatFits) {
  CliRun r = run_cli("--model llama3-70b --hw h200-sxm --tp 2 --context 4096 --batch 64");
  REQUIRE_BINARY(r);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("23,623 blocks, 377,968 tokens"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("max concurrent sequences: 92 per replica"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("KV cache exhausted at 5904 tokens per sequence"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("NCCL buffers"), std::string::npos);
}

TEST(MemoryCli, RejectedPlansExitOne) {
  CliRun r = run_cli("--model llama3-70b --hw h200-sxm");
  REQUIRE_BINARY(r);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("headroom memory: the weights do not fit"), std::string::npos) << r.out;
  CliRun t = run_cli("--model llama3-70b --hw h200-sxm --tp 3");
  EXPECT_EQ(t.code, 1);
  EXPECT_NE(t.out.find("tp 3 does not divide the 64 attention heads"), std::string::npos) << t.out;
  CliRun e = run_cli("--model deepseek-v3 --hw h200-sxm --tp 8 --ep 3");
  EXPECT_EQ(e.code, 1);
  EXPECT_NE(e.out.find("ep 3 does not divide the 256 routed experts"), std::string::npos) << e.out;
}

TEST(MemoryCli, Json) {
  CliRun r = run_cli("--model llama3-8b --hw h200-sxm --kv-dtype fp8 --contexts 512,2048,8192 --json");
  REQUIRE_BINARY(r);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kv_format"]["name"], "fp8");
  EXPECT_EQ(j["fits"], true);
  EXPECT_DOUBLE_EQ(j["kv"]["bytes_per_token"].get<double>(), 65536.0);  // 32 * 2 * 8 * 128 * 1 B
  EXPECT_EQ(j["contexts"]["lengths"].size(), 3u);
  EXPECT_NEAR(j["contexts"]["mean_tokens"].get<double>(), (512.0 + 2048.0 + 8192.0) / 3.0, 1e-9);
  CliRun bad = run_cli("--model llama3-70b --hw h200-sxm --json");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("\"error\": \"the weights do not fit"), std::string::npos) << bad.out;
}
