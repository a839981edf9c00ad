"""Training on several GPUs or machines with torch.distributed: every question sees every process's passages.

Run a script or `dpr-nb train` under torchrun, one process per GPU:

    torchrun --nproc_per_node 4 -m dpr_nb.cli train --preset finetune --set batch_size=128

`batch_size` stays the number of questions per step over all processes; each process encodes its share. Before the
loss, the embeddings are all-gathered: each process then holds the whole batch (its own part still attached to its
graph) and computes the same loss over all of it, so the in-batch negatives are those of the whole batch, as the
original DPR trained on eight GPUs. Backpropagation reaches only the local encoder passes, so each process holds
part of the gradient; summing them over processes (`all_reduce_gradients`) gives exactly the gradient of one process
computing the whole batch. On a CPU the gloo backend does the same, which is how it is tested.
"""

from __future__ import annotations

import atexit
import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class ProcessGroup:
    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, items: list) -> list:
        """This process's contiguous part of a global batch (the first processes take one more when uneven)."""
        per, extra = divmod(len(items), self.world_size)
        start = self.rank * per + min(self.rank, extra)
        return items[start : start + per + (self.rank < extra)]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def current_group() -> ProcessGroup:
    """The running process group; started from torchrun's environment variables if torchrun launched us."""
    if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        _end_group_at_a_clean_exit()
    if not dist.is_initialized():
        return ProcessGroup()
    return ProcessGroup(dist.get_rank(), dist.get_world_size())


# Set after an error, in this process: its exit then leaves the group rather than destroying it.
_leave_group_at_exit = False


def leave_group_at_exit() -> None:
    """After an error, keep this process's exit from destroying the group: the other processes may be waiting for
    this one in a collective (a barrier before a checkpoint, a gather), and destroying the group then can itself
    wait for them forever (NCCL, torchtitan#1342)."""
    global _leave_group_at_exit
    _leave_group_at_exit = True


def _end_group_at_a_clean_exit() -> None:
    """Destroy the group this package started when the script ends normally, before Python tears itself down, as
    torch's documentation asks of every process. A group left to the interpreter's teardown can abort a finished
    process ("terminate called without an active exception", pytorch#190489), and torchrun then reports the whole
    run as failed. A group the user started is the user's to destroy."""
    previous_hook = sys.excepthook

    def leave_after_an_uncaught_exception(*exception_info) -> None:
        leave_group_at_exit()
        previous_hook(*exception_info)

    def destroy() -> None:
        if dist.is_initialized() and not _leave_group_at_exit:
            dist.destroy_process_group()

    # A hook installed later that does not call the one before it hides uncaught exceptions from this one.
    sys.excepthook = leave_after_an_uncaught_exception
    atexit.register(destroy)


def process_device(device: torch.device) -> torch.device:
    """Under torchrun each process owns one GPU: cuda:LOCAL_RANK."""
    if device.type == "cuda" and device.index is None and dist.is_initialized():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def gather_with_grad(local: torch.Tensor, group: ProcessGroup) -> torch.Tensor:
    """Every process's rows, in rank order: (sum of local rows, dim). This process's rows keep their gradient.

    Processes may hold different numbers of rows (passages are deduplicated within each), so rows are padded to
    the largest count for all_gather and trimmed after.
    """
    if not group.enabled:
        return local
    count = torch.tensor([local.shape[0]], device=local.device)
    counts = [torch.zeros_like(count) for _ in range(group.world_size)]
    dist.all_gather(counts, count)
    counts = [int(c) for c in counts]
    padded = torch.zeros((max(counts), *local.shape[1:]), dtype=local.dtype, device=local.device)
    padded[: local.shape[0]] = local.detach()
    gathered = [torch.empty_like(padded) for _ in range(group.world_size)]
    dist.all_gather(gathered, padded)
    gathered[group.rank] = local  # all_gather cuts the graph: put back the local rows that carry it
    return torch.cat([rows[:n] for rows, n in zip(gathered, counts)])  # (total rows, dim)


def gather_objects(value, group: ProcessGroup) -> list:
    """A picklable value from every process, in rank order."""
    if not group.enabled:
        return [value]
    values = [None] * group.world_size
    dist.all_gather_object(values, value)
    return values


def all_reduce_gradients(model: torch.nn.Module, group: ProcessGroup) -> None:
    """Sum each parameter's gradient over processes: each holds the part that flowed through its own passes."""
    if not group.enabled:
        return
    gradients = [p.grad for p in model.parameters() if p.grad is not None]
    # One collective for all of them (a few hundred small ones would each pay the network's latency).
    flat = torch.cat([g.reshape(-1) for g in gradients])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    for gradient, summed in zip(gradients, flat.split([g.numel() for g in gradients])):
        gradient.copy_(summed.view_as(gradient))


def broadcast_parameters(model: torch.nn.Module, group: ProcessGroup) -> None:
    """Start every process from process 0's weights (a randomly initialised model differs otherwise)."""
    if not group.enabled:
        return
    for tensor in (*model.parameters(), *model.buffers()):
        dist.broadcast(tensor.data, src=0)
