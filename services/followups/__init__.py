"""The thank-you DM after a purchase, with a button to join the server's next drop."""
