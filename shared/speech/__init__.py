"""Speech stages' shared code: windowed audio I/O, VAD, ASR, hallucination guards, alignment.

Modules import their heavy libraries (torch, faster-whisper, whisperx, demucs) inside the
functions that need them, so importing the package costs nothing and the pure logic
(chunk merging, guards, interpolation, backend selection) is testable without the ml env.
"""
