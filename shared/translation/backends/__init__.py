"""Translation backends behind one interface (:class:`base.Translator`) and one lookup table."""
