"""An example infomix plugin: an R-precision `retrieval.metric` and an `infomix example-rprec` command."""
