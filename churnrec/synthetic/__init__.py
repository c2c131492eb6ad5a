"""A deterministic synthetic shop (orders, customers, items, events) for demos and tests.

Behaviour is built to make churn and recommendation learnable but not trivial: BG/NBD-like
buying and dropout with heterogeneous rates, declining customers, Zipf popularity with taste
segments, replenished staples, seasonality, channels, returns and a clickstream funnel.
"""

from churnrec.synthetic.config import ShopConfig
from churnrec.synthetic.shop import ShopTables, generate_shop
from churnrec.synthetic.writer import FORMATS, write_shop

__all__ = ["FORMATS", "ShopConfig", "ShopTables", "generate_shop", "write_shop"]
