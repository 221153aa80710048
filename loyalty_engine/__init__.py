"""loyalty_engine: a personalized loyalty and coupon engine for grocery chains.

The domain packages (``model``, ``imports``, ``synthetic``, ...) never import Flask;
the web edge lives in :mod:`loyalty_engine.app` and :mod:`loyalty_engine.web`.
"""

__version__ = "0.1.0"
