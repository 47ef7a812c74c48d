#include <assert.h>

#include "pipeline.h"

void pl_sem_init(struct pl_sem *sem, unsigned capacity)
{
    sem->capacity = capacity;
    sem->in_use = 0;
    sem->peak = 0;
}

bool pl_sem_try_acquire(struct pl_sem *sem)
{
    if (sem->in_use >= sem->capacity)
        return false;
    sem->in_use++;
    if (sem->in_use > sem->peak)
        sem->peak = sem->in_use;
    return true;
}

void pl_sem_release(struct pl_sem *sem)
{
    assert(sem->in_use > 0);
    sem->in_use--;
}

unsigned pl_sem_free(const struct pl_sem *sem)
{
    return sem->in_use < sem->capacity ? sem->capacity - sem->in_use : 0;
}

void pl_sem_set_capacity(struct pl_sem *sem, unsigned capacity)
{
    sem->capacity = capacity;
}
