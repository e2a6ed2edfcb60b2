"""Integrations with other libraries. Each subpackage imports its library only when it is itself imported, so
`import hfmix` never needs them."""
