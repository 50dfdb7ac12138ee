"""Mixture-of-experts: routers, layers, upcycling."""

from infomix.moe.routers import Routing, TopKRouter, load_balance_loss, router_z_loss

__all__ = ["Routing", "TopKRouter", "load_balance_loss", "router_z_loss"]
