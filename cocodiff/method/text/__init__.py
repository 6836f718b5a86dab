"""Class text at two granularities (corpus files), the generator that writes it, and encoders."""
