namespace FlashAttention;

/// <summary>A run of consecutive sequence positions that one device of the ring holds (queries, keys and values alike).</summary>
/// <param name="Index">Position of the chunk along the sequence (0 first).</param>
/// <param name="Start">First sequence position.</param>
/// <param name="Length">Positions; 0 when the sequence is shorter than the number of chunks.</param>
/// <param name="Device">The device that holds it.</param>
public readonly record struct RingChunk(int Index, int Start, int Length, int Device);
