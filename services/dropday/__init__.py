"""Drop day: claims, the link pool, holds that end, raffle rounds and orders from the shops."""
