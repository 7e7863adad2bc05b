"""The sandbox shop: a local server speaking the subset of shop APIs dropbell's adapters use."""

from .catalog import Catalog, CatalogProduct, Faults
from .server import SandboxShop
from .stripe_api import StripeApi
from .stripe_wire import Delivery

__all__ = ["Catalog", "CatalogProduct", "Delivery", "Faults", "SandboxShop", "StripeApi"]
