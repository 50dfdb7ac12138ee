"""A learned, amortised MI estimator: a set network over the sample trained to output MI quantiles."""
