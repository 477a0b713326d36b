// Chat templates rendered byte for byte like transformers' apply_chat_template: every case in
// tests/data/chat/*.json (written by tools/make_chat_goldens.py) through the model's own
// template and, where the file names one, through the matching built-in template.
#include "chat/chat_template.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace nexus {
namespace {

using json = nlohmann::ordered_json;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string golden_dir() { return test::source_dir() + "/tests/data/chat"; }

json load_golden(const std::string& name) {
  std::string text = read_file(golden_dir() + "/" + name + ".json");
  EXPECT_FALSE(text.empty()) << "missing golden " << name;
  return text.empty() ? json::object() : json::parse(text);
}

std::vector<ChatMessage> messages_of(const json& c) {
  std::vector<ChatMessage> msgs;
  for (const auto& m : c["messages"]) msgs.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  return msgs;
}

ChatRenderOptions options_of(const json& g, const json& c) {
  ChatRenderOptions o;
  o.add_generation_prompt = c["add_generation_prompt"].get<bool>();
  o.bos_token = g["bos_token"].get<std::string>();
  o.eos_token = g["eos_token"].get<std::string>();
  if (c.contains("extra")) o.extra_variables = c["extra"];
  return o;
}

// Renders every case of golden `name` with `source` and checks the result.
void check_cases(const std::string& name, const std::string& source, const char* label) {
  json g = load_golden(name);
  ASSERT_TRUE(g.contains("cases"));
  auto tpl = ChatTemplate::parse(source);
  ASSERT_TRUE(tpl.ok()) << name << ": " << tpl.error().message;
  int checked = 0;
  for (const auto& c : g["cases"]) {
    std::string case_name = name + "/" + c["name"].get<std::string>() + " (" + label + ")";
    auto r = tpl->render(messages_of(c), options_of(g, c));
    if (c.contains("error")) {
      ASSERT_FALSE(r.ok()) << case_name << " rendered " << *r;
      EXPECT_NE(r.error().message.find(c["error"].get<std::string>()), std::string::npos)
          << case_name << ": " << r.error().message;
    } else {
      ASSERT_TRUE(r.ok()) << case_name << ": " << r.error().message;
      EXPECT_EQ(*r, c["expected"].get<std::string>()) << case_name;
    }
    ++checked;
  }
  EXPECT_GE(checked, 10) << name;
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, ModelTemplateMatchesTransformers) {
  json g = load_golden(GetParam());
  check_cases(GetParam(), g["template"].get<std::string>(), "model template");
}

// Goldens whose file names the built-in template meant to render like them.
class BuiltinGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(BuiltinGolden, BuiltinTemplateMatchesTransformers) {
  json g = load_golden(GetParam());
  ASSERT_TRUE(g.contains("builtin")) << GetParam();
  auto src = builtin_chat_template(g["builtin"].get<std::string>());
  ASSERT_TRUE(src.ok()) << src.error().message;
  check_cases(GetParam(), *src, "built-in");
}

INSTANTIATE_TEST_SUITE_P(Chat, Golden,
                         ::testing::Values("llama3", "qwen3", "chatml", "llama3_instruct", "gemma3"));
INSTANTIATE_TEST_SUITE_P(Chat, BuiltinGolden, ::testing::Values("chatml", "llama3_instruct", "gemma3"));

TEST(ChatTemplate, GoldenFilesAllListed) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(golden_dir()))
    if (e.path().extension() == ".json") ++n;
  EXPECT_EQ(n, 5) << "a new golden file needs adding to the Golden suite";
}

TEST(ChatTemplate, BuiltinNames) {
  for (const std::string& n : builtin_chat_template_names()) EXPECT_TRUE(builtin_chat_template(n).ok()) << n;
  auto r = builtin_chat_template("vicuna");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("unknown chat template 'vicuna'"), std::string::npos) << r.error().message;
}

TEST(ChatTemplate, UnknownRoleIsAnError) {
  auto r = render_chat(*builtin_chat_template("chatml"), {{"user", "hi"}, {"narrator", "x"}}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "chat message 1: unknown role 'narrator' (expected system, user, assistant or tool)");
}

TEST(ChatTemplate, SyntaxErrorNamesPosition) {
  auto r = render_chat("{% for m in messages %}\n{{ m.content | wordwrap }}{% endfor %}", {{"user", "hi"}}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "chat template: unsupported filter 'wordwrap' at line 2, column 16");
  r = render_chat("{% for m in messages %}{{ m.content }}", {{"user", "hi"}}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("expected 'else' or 'endfor'"), std::string::npos) << r.error().message;
}

TEST(ChatTemplate, RaiseExceptionReachesCaller) {
  auto r = render_chat(*builtin_chat_template("gemma"), {{"assistant", "first"}}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("raise_exception: Conversation roles must alternate"), std::string::npos)
      << r.error().message;
}

TEST(ChatTemplate, ExtraVariablesOverrideDefaults) {
  ChatRenderOptions o;
  o.extra_variables = json::parse(R"({"tools": [{"b": 1, "a": 2}], "add_generation_prompt": false, "x": "y"})");
  auto r = render_chat("{{ tools|tojson }}|{{ add_generation_prompt }}|{{ x }}|{{ documents }}", {}, o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "[{\"b\": 1, \"a\": 2}]|False|y|None");
}

TEST(ChatTemplate, ParsedTemplateRendersRepeatedly) {
  auto t = ChatTemplate::parse("{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}");
  ASSERT_TRUE(t.ok());
  for (int i = 0; i < 3; ++i) {
    auto r = t->render({{"user", std::to_string(i)}}, {});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, "[user:" + std::to_string(i) + "]");
  }
}

}  // namespace
}  // namespace nexus
