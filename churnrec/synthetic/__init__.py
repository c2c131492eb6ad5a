"""A deterministic synthetic shop (orders, customers, items, events) for demos and tests,
built so that churn and recommendation are learnable but not trivial."""

from churnrec.synthetic.config import ShopConfig
from churnrec.synthetic.shop import ShopTables, generate_shop
from churnrec.synthetic.writer import FORMATS, write_shop

__all__ = ["FORMATS", "ShopConfig", "ShopTables", "generate_shop", "write_shop"]
