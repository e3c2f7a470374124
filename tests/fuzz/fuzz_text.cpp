// Character-level text (core/data/text): UTF-8 decoding of arbitrary bytes, the vocabulary, the
// encode/decode round trip, and a corpus split into sequences (with and without streams). The
// first byte picks the options; the rest is the text.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/data/text.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t pick = data[0];
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  kiln::fuzz::expect_only_kiln_errors([&] {
    const std::u32string text = kiln::data::decode_utf8(bytes);
    // Every byte decodes to at most one code point, and valid UTF-8 round-trips exactly.
    if (text.size() > bytes.size()) std::abort();
    if (text.find(U'\uFFFD') == std::u32string::npos && kiln::data::encode_utf8(text) != bytes) {
      std::fprintf(stderr, "fuzz: valid UTF-8 does not round-trip\n");
      std::abort();
    }
    const int max_vocab = pick & 0x0F;  // 0 (all) or 1..15
    const kiln::data::Vocabulary vocab = kiln::data::Vocabulary::build(text, max_vocab);
    const std::vector<int32_t> ids = vocab.encode(text);
    for (int32_t id : ids) {
      if (id < 0 || id >= vocab.size()) std::abort();
    }
    (void)vocab.decode(ids);

    kiln::data::TextOptions options;
    options.validation = (pick & 0x10) != 0 ? 0.25 : 0.0;
    options.max_vocab = max_vocab;
    auto corpus = std::make_shared<const kiln::data::TextCorpus>(text, "fuzz.txt", options);
    (void)corpus->unigram_entropy();
    const int64_t seq_len = 1 + ((pick >> 5) & 0x03);  // 1..4
    const int64_t streams = (pick & 0x80) != 0 ? 2 : 0;
    kiln::data::TextDataset ds(corpus, kiln::data::TextSplit::Train, seq_len, streams);
    std::vector<int32_t> x(static_cast<size_t>(seq_len)), labels(static_cast<size_t>(seq_len));
    for (int64_t i = 0; i < std::min<int64_t>(ds.size(), 32); ++i) {
      ds.get_tokens(i, kiln::data::SampleContext{}, x.data(), labels.data());
    }
  });
  return 0;
}
