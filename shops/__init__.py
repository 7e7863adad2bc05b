"""Shop adapters (Stripe, Shopify, the bundled sandbox shop): no Discord, no cogs, no tables."""
