"""Draft orders (issue 18): orders taken over the phone or at a store counter, built step by step, priced live,
reserving nothing until they are completed through the same placement path as `placeOrder`."""
