"""Use cases that move more than one domain, in the manner of Netflix Dispatch's flows.

A single-aggregate service (app/<domain>/service.py, shipments.py, payments.py, ...) changes its own
rows and never imports a flow. A flow calls those services in the order the use case prescribes,
inside the caller's one unit of work, so a refusal anywhere rolls the whole use case back:

- placement.py     placeOrder: reserve and write the order, promise its delivery, open its payment
- confirmation.py  confirmOrder (and every other way an order gets confirmed): confirm, then capture/invoice
- payment.py       recordPayment: record the money; a pending order paid in full is confirmed
- cancellation.py  cancelOrder: release the stock, then void/refund/credit what was paid
- holds.py         releaseOrder: release a hold; an order back to PENDING that pays on delivery or is paid confirms
- expiry.py        the background task cancelling unpaid orders past their deadline (reason UNPAID), recovering card placements
- shipping.py      createShipment: ship, then capture/invoice if billing does so at shipment
- returns.py       approveReturn: an exchange places its replacement order, paid by the returned goods
"""
