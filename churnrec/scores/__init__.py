"""The scoring floor: champions in, one scores table out.

Serving (the HTTP state), `churnrec score` (the export), refresh (the drift check) and the
report all need the same thing: load the champions, score a snapshot, add timing, value,
consent and the suggested action. It lives here once, below all three, so their answers can
never disagree.
"""
