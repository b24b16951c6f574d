"""The use cases, one module per group: what the facade (feeder/app.py) offers, each job a
function that takes the store protocols it uses, the config and the time, and hands the
work to the packages below. No job knows which storage engine runs.

  poll.py      the poll (corpus → state → files) and the build (state → files)
  mailing.py   the newsletter: preview, send, the due week's send
  people.py    the operator's changes to subscribers; subscriber and bounce files
  readers.py   the readers' own changes through the subscriber pages; the secret
  tagging.py   classify and evaluate a corpus; people's verdicts on tags (label …)
  status.py    what `feeder status` and /metrics report
  state.py     where `feeder state copy` may write
"""
