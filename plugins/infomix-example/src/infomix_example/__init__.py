"""An example infomix plugin: a `retrieval.metric` component and an `infomix example` command."""
