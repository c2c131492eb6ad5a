"""The scoring floor: champions in, one scores table out, once, below serving, `churnrec score`,
refresh and the report, so their answers can never disagree."""
