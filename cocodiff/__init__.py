"""cocodiff: skeleton action recognition trained with the CoCoDiff auxiliary."""

__version__ = "0.1.0"
