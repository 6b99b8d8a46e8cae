"""Everyday tensor manipulation from beginner code: view(-1, 1), reshape, unsqueeze/squeeze,
permute/transpose, flatten, cat/stack along dims, boolean masks, where/clamp, argmax/max/min
with dim, mean/std, topk-free sorting, and conversions (.long(), .float(), .to(dtype),
.detach().numpy(), .tolist())."""

import numpy as np
import torch


def make_init(rng: np.random.Generator) -> dict:
    return {"x": rng.normal(0.0, 1.0, (2, 3, 4)).astype(np.float32)}


def main(init: dict) -> dict:
    out = {}
    x = torch.tensor(init["x"])
    out["size"] = list(x.size())
    out["size_1"] = x.size(1)
    out["dim"] = x.dim()
    out["numel"] = x.numel()

    col = x.view(-1, 1)
    out["view"] = list(col.shape)
    out["reshape"] = list(x.reshape(6, -1).shape)
    out["flatten"] = list(torch.flatten(x, 1).shape)
    out["unsqueeze"] = list(x.unsqueeze(0).shape)
    out["squeeze"] = list(x.unsqueeze(2).squeeze().shape)
    out["permute"] = list(x.permute(2, 0, 1).shape)
    out["transpose"] = x.transpose(0, 1).contiguous().view(3, -1)[0].tolist()

    a = x[0]
    b = x[1]
    out["cat0"] = list(torch.cat((a, b), 0).shape)
    out["cat1"] = list(torch.cat((a, b), dim=1).shape)
    out["stack"] = list(torch.stack([a, b], dim=2).shape)

    mask = x > 0
    out["positives"] = int(mask.sum())
    out["masked_mean"] = x[mask].mean().item()
    out["where"] = torch.where(x > 0, x, torch.zeros_like(x)).sum().item()
    out["clamp"] = torch.clamp(x, min=-0.5, max=0.5).sum().item()
    out["relu_like"] = x.clamp(min=0).sum().item()

    values, indices = x.max(dim=2)
    out["max_values"] = values.tolist()
    out["max_indices"] = indices.tolist()
    out["argmax"] = torch.argmax(x, dim=1).tolist()
    out["min"] = x.min().item()
    out["mean_dim"] = x.mean(dim=(0, 1)).tolist()
    out["std"] = x.std().item()
    out["sum_keepdim"] = list(x.sum(dim=1, keepdim=True).shape)
    sorted_values, order = torch.sort(x[0, 0], descending=True)
    out["sorted"] = sorted_values.tolist()
    out["order"] = order.tolist()

    labels = (x[:, 0, 0] > 0).long()
    out["labels"] = labels.tolist()
    out["labels_long"] = labels.dtype == torch.long
    out["float_back"] = labels.float().dtype == torch.float32
    out["to_double"] = x.to(torch.float64).dtype == torch.float64
    out["numpy_dtype"] = str(x.detach().numpy().dtype)
    out["arange"] = torch.arange(0, 10, 3).tolist()
    out["arange_long"] = torch.arange(5).dtype == torch.int64
    out["float_of_scalar"] = float(x[0, 0, 0])
    out["int_of_scalar"] = int(torch.tensor(7))
    out["format"] = f"{x.sum():.3f}"
    return out
