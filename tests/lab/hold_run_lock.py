"""A deploy that takes kubewire's run lock on every node, then keeps running (the lab test of
concurrent runs kills it to play a controller that died mid-run)."""

from pyinfra.operations import server

from kubewire.runlock import take_run_lock

take_run_lock()
server.shell(name="Hold the run lock for a while", commands=["sleep 90"])
