"""Entropy coding with constriction: integer tables (``tables``), the escape format (``escape``), two coders
behind one interface (a writer with ``categorical``/``model``/``uniform``/``finish`` and the matching reader),
and the loop that codes digits over entropy layers (``messages``).

The coder choice is made here, once: a digit's own string is range coded (``range``: the minimal flush costs
~2.6 bits/digit, an ANS state ~20 or more); many digits in one stream are ANS coded (``ans``).
"""
from rdsweep.coding.ans import AnsReader, AnsWriter
from rdsweep.coding.range import RangeReader, RangeWriter

STRING = (RangeWriter, RangeReader)  # one digit, one string
STREAM = (AnsWriter, AnsReader)  # many digits, one stream (container format 2 and up)
LEGACY_STREAM = (RangeWriter, RangeReader)  # container format 1
