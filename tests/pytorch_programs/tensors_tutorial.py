"""The "Tensors" page of Learn the Basics: creating tensors from data, from NumPy and from
other tensors, their attributes, indexing, joining, arithmetic, in-place operations and the
NumPy bridge (shared memory both ways)."""

import numpy as np
import torch


def make_init(rng: np.random.Generator) -> dict:
    return {}  # the page builds its tensors from literals and ones


def main(init: dict) -> dict:
    out = {}
    data = [[1, 2], [3, 4]]
    x_data = torch.tensor(data)
    np_array = np.array(data)
    x_np = torch.from_numpy(np_array)
    x_ones = torch.ones_like(x_data)  # retains the properties of x_data
    x_zeros = torch.zeros_like(x_data, dtype=torch.float)  # overrides the datatype of x_data
    out["x_data"] = x_data.tolist()
    out["x_data_is_int64"] = x_data.dtype == torch.int64
    out["x_np_equal"] = torch.equal(x_np, x_data)
    out["x_ones"] = x_ones.tolist()
    out["x_zeros_is_float"] = x_zeros.dtype == torch.float32

    shape = (2, 3,)
    ones_tensor = torch.ones(shape)
    zeros_tensor = torch.zeros(shape)
    out["ones"] = ones_tensor.tolist()
    out["zeros_shape"] = list(zeros_tensor.shape)

    tensor = torch.ones(3, 4)
    out["shape"] = tuple(tensor.shape)
    out["shape_is_size"] = tensor.shape == torch.Size([3, 4])
    out["dtype_is_float32"] = tensor.dtype == torch.float32
    out["device"] = str(tensor.device)
    print(f"Shape of tensor: {tensor.shape}")

    tensor = torch.ones(4, 4)
    out["first_row"] = tensor[0].tolist()
    out["first_column"] = tensor[:, 0].tolist()
    out["last_column"] = tensor[..., -1].tolist()
    tensor[:, 1] = 0
    out["after_setitem"] = tensor.tolist()

    t1 = torch.cat([tensor, tensor, tensor], dim=1)
    out["cat_shape"] = list(t1.shape)
    out["stack_shape"] = list(torch.stack([tensor, tensor]).shape)

    # This computes the matrix multiplication between two tensors. y1, y2, y3 will have the
    # same value. ``tensor.T`` returns the transpose of a tensor
    y1 = tensor @ tensor.T
    y2 = tensor.matmul(tensor.T)
    y3 = torch.zeros_like(y1)
    torch.matmul(tensor, tensor.T, out=y3)
    out["matmul"] = y1.tolist()
    out["matmul_agree"] = torch.equal(y1, y2) and torch.equal(y1, y3)

    # This computes the element-wise product. z1, z2, z3 will have the same value
    z1 = tensor * tensor
    z2 = tensor.mul(tensor)
    z3 = torch.zeros_like(tensor)
    torch.mul(tensor, tensor, out=z3)
    out["mul_agree"] = torch.equal(z1, z2) and torch.equal(z1, z3)

    agg = tensor.sum()
    agg_item = agg.item()
    out["agg_item"] = agg_item
    out["agg_item_type"] = type(agg_item).__name__

    tensor.add_(5)
    out["after_add_"] = tensor[0].tolist()

    # Tensor to NumPy array: a change in the tensor reflects in the NumPy array.
    t = torch.ones(5)
    n = t.numpy()
    t.add_(1)
    out["numpy_shares_memory"] = n.tolist()

    # NumPy array to Tensor: changes in the NumPy array reflect in the tensor.
    n = np.ones(5)
    t = torch.from_numpy(n)
    np.add(n, 1, out=n)
    out["from_numpy_shares_memory"] = t.tolist()
    out["from_numpy_is_float64"] = t.dtype == torch.float64
    return out
