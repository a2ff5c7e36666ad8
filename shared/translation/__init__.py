"""Translation: sentences from aligned words, language routing, NMT and LLM backends, glossary.

The translate stage (stages/translate.py) is the only caller; the pieces are separate so
each can be tested alone:

    sentences.py   aligned words -> sentences, each keeping its word indices and times
    langid.py      per-sentence language (script + a romanised-Hindi word list)
    glossary.py    TSV glossaries; terms protected by placeholders and restored
    routing.py     which backend translates a pair; impossible pairs fail before loading
    backends/      indictrans2, nllb (transformers or CTranslate2), llm: one interface
    postedit.py    the LLM pass over NMT output, one line per line or the NMT line is kept
    engine.py      the whole run over one transcript for one target language
    ct2.py         CTranslate2 int8 conversion of a cached NLLB model
"""
