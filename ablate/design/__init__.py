"""Designs of experiments: which cells of a grid to run when not all of them.

  regular  2^(k−p) fractional factorials of two-level factors (pyDOE3's fracfact),
           their defining relation, resolution and aliases
  subset   generalized subset designs of factors with any number of levels (pyDOE3's gsd)
  fraction the one entry point: a balanced 1/K of a grid's cells, or why not and the nearest K
  effects  which effects a set of cells can separate (by rank), and which are aliased

Plain numbers in, plain numbers out: factors are column indices, levels are
integer codes. The sweep maps them to names; the report asks `effects` about
the cells it read. Only `effects` is imported by the report, and it needs
numpy alone (pyDOE3 takes most of a second to import).
"""
