"""Subtitles to broadcast rules: text measure and line breaks (text), the rules (rules),
cue building from word timings (builder), translated and bilingual tracks (translated),
the QC checker (checker) and pysubs2 output (formats)."""
