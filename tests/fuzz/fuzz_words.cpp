// Word-level text (core/data/words): tokenisation of arbitrary UTF-8, the vocabulary, a corpus cut
// into lines or sentences, padded samples and bucketed batches. The first byte picks the options;
// the rest is the text.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/data/text.h"
#include "core/data/words.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t pick = data[0];
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  kiln::fuzz::expect_only_kiln_errors([&] {
    const std::u32string text = kiln::data::decode_utf8(bytes);
    const bool lower_case = (pick & 0x01) != 0;
    const std::vector<std::string> tokens = kiln::data::tokenize_words(text, lower_case);
    for (const std::string& t : tokens) {
      if (t.empty()) std::abort();
    }
    kiln::data::WordOptions options;
    options.max_vocab = 4 + ((pick >> 1) & 0x07);  // 4..11
    options.seq_len = 1 + ((pick >> 4) & 0x03);    // 1..4
    options.split = (pick & 0x40) != 0 ? kiln::data::WordSplit::Sentences : kiln::data::WordSplit::Lines;
    options.validation = (pick & 0x80) != 0 ? 0.5 : 0.0;
    options.lower_case = lower_case;
    auto corpus = std::make_shared<const kiln::data::WordCorpus>(text, "fuzz.txt", options);
    (void)corpus->unigram_entropy();
    for (kiln::data::TextSplit split : {kiln::data::TextSplit::Train, kiln::data::TextSplit::Validation}) {
      kiln::data::WordDataset ds(corpus, split);
      const auto t = static_cast<size_t>(options.seq_len);
      std::vector<int32_t> x(t), labels(t);
      for (int64_t i = 0; i < std::min<int64_t>(ds.size(), 32); ++i) {
        ds.get_tokens(i, kiln::data::SampleContext{}, x.data(), labels.data());
        if (ds.sequence_length(i) < 1 || ds.sequence_length(i) > options.seq_len) std::abort();
      }
      for (const auto& batch : ds.batch_plan(3, 11, 2, true)) {
        if (batch.empty()) std::abort();
      }
    }
  });
  return 0;
}
